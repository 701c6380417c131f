"""claimscrub inside Apache Spark: scrub and audit claims held as Spark DataFrames (optional extra ``spark``).

* :mod:`claimscrub.spark.config`: what a scrub needs on every executor, and the check that it is there.
* :mod:`claimscrub.spark.partition`: the per-partition work (no pyspark import: testable without Java).
* :mod:`claimscrub.spark.frames`: ``scrub_dataframe`` and the input readers (pyspark).
* :mod:`claimscrub.spark.audit`: the audit frame and sample drawn from a DataFrame of claims.

Only the modules that say so import pyspark, so ``import claimscrub.spark`` costs nothing.
"""
