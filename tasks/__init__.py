"""Plain pipeline steps: typed functions over numpy arrays, dataclasses and paths, one
subpackage per stage. No Prefect here (that is `flows/`); storage objects are passed in."""
