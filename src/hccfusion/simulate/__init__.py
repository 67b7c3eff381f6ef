"""hccfusion.simulate."""
