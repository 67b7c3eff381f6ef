"""hccfusion.clinical: published clinical scores and staging, and baseline clinical values."""
