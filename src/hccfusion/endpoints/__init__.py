"""hccfusion.endpoints."""
