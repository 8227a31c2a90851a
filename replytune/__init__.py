"""The core every stage stands on: what two stages share lives here, never inside one of them.

- `secrets`, `yaml_config` (strict configs), `schema` (the record and pair columns), `control_strings`,
  `argilla_client` (the one Argilla client), `agreement` (inter-annotator agreement and its sentence);
- `errors`: InputError, PushError, the `Refused` base of every refusal, and the one exit-code table;
- `files`: the one atomic writer and the one sha256 of a file;
- `publishable`: what may leave the machine (path-free, secret-free copies) and `hub`: the one push (a commit and
  its tag, or nothing) with the one push-target check, for dataset and model repos alike;
- `versions`: the only code that knows `vN`, `X@R` and `latest`, and how a dataset spec resolves.
- `quiet`: quiet by default: each command's console without its libraries' known-harmless warnings (`--verbose`
  brings them back).

It imports no stage (data_prep, recipes, judge, scripts): data_prep and recipes are siblings on top of it
(tests/test_layering.py).
"""
