"""The stages of one export job: plan, extract, transform, validate, write, deliver, commit."""
