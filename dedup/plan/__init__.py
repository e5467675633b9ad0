"""The batch scan as a plan of partitioned stages (see :mod:`dedup.plan.job`).

Stages are plain functions over one shard, key partition or pair range that read and
write ``.npy`` files in a scratch folder (:mod:`dedup.plan.scratch`); an executor runs
them -- :class:`dedup.plan.local.LocalExecutor` on this machine's cores.
"""
