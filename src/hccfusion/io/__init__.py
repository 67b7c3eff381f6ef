"""hccfusion.io."""
