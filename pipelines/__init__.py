"""The pipelines: the ``mdw`` CLI, the runner (source -> Bronze -> warehouse), dbt, the ops tables."""

# the targets a run can write to (``mdw.target``); here, not in pipelines.targets, so that the CLI's parser
# reads them without importing dlt
TARGETS = ("local", "prod")
