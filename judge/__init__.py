"""replytune evaluation: generate replies, judge them with an LLM, test significance, publish the adapter.

The stage arrives with its own issue; this package holds its place in the layout.
"""
