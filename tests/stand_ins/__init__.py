"""Local stand-ins for the services replytune talks to (Hub API, Apify API), started by test fixtures on loopback."""
