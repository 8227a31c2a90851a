"""The core every stage stands on: secrets, strict YAML configs, the record schema, control strings, the Argilla
client, agreement and the Hub push.

It imports no stage (data_prep, recipes, judge, scripts): data_prep and recipes are siblings on top of it, and a
helper that two stages share lives here rather than inside one of them.
"""
