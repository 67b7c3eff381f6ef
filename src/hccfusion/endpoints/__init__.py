"""hccfusion.endpoints: tumour response (mRECIST / RECIST 1.1), reader agreement, rates, survival, tumour shrinkage and adverse events."""
