"""HTTP routes: parse the request, call one service, map the result."""
