"""`taskrel matrix` under the faults of issue 14 (helpers from matrix_test.py):

  RankErrors  a NaN only in the rows of rank 1 of a group of 2: the whole
              group records the triples that read it as failed with that
              error and goes on (exit 4) -- no hang.

usage: reliability_test.py ranks
"""
import os
import sys
import unittest

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matrix_test import Base, journal_records, make_zoo, matrix, write_job  # noqa: E402


class RankErrors(Base):
    def test_nan_in_rank_1_rows_fails_the_triple_on_the_whole_group(self):
        # test splits have 30 rows: rank 1 of a group of 2 holds rows 15..29.
        make_zoo(os.path.join(self.tmp, "nan_store.h5"), "--nan", "enc1/task2", "--nan-row", "20")
        job = write_job(self.tmp, name="nan2.toml", store="nan_store.h5", output="nan2", ranks_per_triple=2)
        result = matrix(job, "-q", ranks=2, timeout=300)
        self.ok(result, 4)
        csv = pd.read_csv(os.path.join(self.tmp, "nan2", "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        failed = csv[csv.status == "failed"]
        self.assertEqual(len(failed), 4)  # enc1 with task2 as reference (2) or target (2)
        self.assertTrue(((failed.encoder == "enc1") & ((failed.reference == "task2") | (failed.target == "task2"))).all())
        self.assertTrue(failed.error.str.contains("/enc1/task2/test").all(), failed.error.iloc[0])
        self.assertTrue(failed.error.str.contains("row 20").all(), failed.error.iloc[0])
        self.assertEqual((csv.status == "ok").sum(), 8)
        # One record per triple: the group wrote each once, from its leader.
        self.assertEqual(len(journal_records(os.path.join(self.tmp, "nan2"))), 12)


if __name__ == "__main__":
    suite = {"ranks": RankErrors}[sys.argv[1]]
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromTestCase(suite))
    sys.exit(0 if result.wasSuccessful() else 1)
