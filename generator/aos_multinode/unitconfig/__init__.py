"""Reading and validating the Unit Config: source (YAML with positions) -> spec (the format) ->
load (cross-field rules, the frozen model); views of the model for the CLI."""
