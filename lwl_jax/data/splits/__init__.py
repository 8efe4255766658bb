"""YouTube-VOS 2019 train splits of the reference (jjtrain: 3,171 videos; jjvalid: the 300 held-out videos of
the paper's appendix H). Data files from visionml/pytracking ltr/data_specs/."""
