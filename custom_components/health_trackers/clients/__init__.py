"""The services' web APIs, typed, with no Home Assistant in sight.

Everything below this package speaks HTTP to one service and hands back typed records in the
service's own units; it imports only aiohttp, yarl, authlib and the standard library, and only
relative modules of its own, so it can be read, tested and imported without Home Assistant.
The integration around it is a thin adapter: providers turn records into sensors.
"""
