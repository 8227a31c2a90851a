"""The pytest wiring (fixtures) of the offline stand-ins in standins/: the Hub, the Apify API, an OpenAI server."""
