"""The paper's numbers, in one place, so that every page and table shows them beside ours
and labelled as the paper's (Becker et al. 2018; SPEC.md, "Numbers to reproduce")."""

# Table 1: mean and std of the test accuracy (%) over the paper's splits.
TABLE1 = {
    ("alexnet", "digits"): (95.82, 1.49),
    ("alexnet", "gender"): (95.87, 2.85),
    ("audionet", "digits"): (92.53, 2.04),
    ("audionet", "gender"): (91.74, 8.60),
}
# Section 3.3.1: the AlexNet gender model's accuracy (%) on frequency-scaled recordings, and the
# share (%) of them it gives the opposite gender ("about 80 %").
FREQUENCY_SCALING = {"mean": 20.3, "std": 12.6, "opposite_share": 80.0}
# Section 3.3.2: AudioNet digits, accuracy (%) with 1 % of the samples zeroed.
ZEROING_1PCT = {"audionet/digits": {"unperturbed": 92.53, "random": 92.0, "amplitude": 85.0, "relevance": 77.0}}
# The runs whose zeroing curves are in the paper (Fig. 3); the others' are ours.
ZEROING_RUNS = ("audionet/digits", "audionet/gender")
