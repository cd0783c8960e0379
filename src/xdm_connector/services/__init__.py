"""The product's use cases, called alike by the API's routes, the pages and the commands.

A route, a page or a command parses its input, calls one service and shapes the result;
a service that changes something writes its audit entry in the change's own transaction,
as the ``actor`` it is given (``operator:<login>`` for a command, the client id for the
API and the pages).
"""
