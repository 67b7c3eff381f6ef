"""hccfusion.reporting."""
