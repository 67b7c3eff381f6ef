"""hccfusion.deid."""
