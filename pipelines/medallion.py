"""spark-submit entry point for the whole pipeline in one application:
``spark-submit ... pipelines/medallion.py [--mode stream|batch] [--trigger availableNow]``."""

if __name__ == "__main__":
    from pipelines.jobs.entry import submit_main

    submit_main("all")
