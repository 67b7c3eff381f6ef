"""hccfusion.cli."""
