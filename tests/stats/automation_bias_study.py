"""A sequential study small enough to count by hand: two readers, ten cases, the AI wrong on four.

Cases C000..C009, diseased where the number is odd. The AI (positive at 0.5) is wrong on C000 and C002
(false positives) and on C001 and C003 (false negatives), right on the other six. R01 follows the AI;
R02 holds out where it is wrong. Ratings 0-100, a positive call at 50 or more.
"""

import numpy as np

CASES = tuple(f"C{i:03d}" for i in range(10))
TRUTH = np.arange(10) % 2 == 1
AI_SCORES = np.array([0.8, 0.2, 0.7, 0.3, 0.1, 0.9, 0.2, 0.8, 0.3, 0.6])
OPERATING_POINT = 0.5
THRESHOLD = 50
READERS = ("R01", "R02")
ARMS = ("unaided", "aided")
#                    C000 C001 C002 C003 C004 C005 C006 C007 C008 C009
RATINGS = np.array([[[20, 80, 30, 40, 60, 45, 10, 40, 20, 90],    # unaided, R01
                     [20, 70, 20, 30, 10, 80, 30, 60, 40, 70]],   # unaided, R02
                    [[70, 30, 40, 40, 30, 90, 10, 60, 30, 80],    # aided, R01
                     [40, 70, 20, 55, 10, 40, 20, 70, 40, 70]]],  # aided, R02
                   dtype=float)
