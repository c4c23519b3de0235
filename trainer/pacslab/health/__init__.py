"""What tells a researcher why a run is going wrong: health alerts (`alerts`), the prompt ledger
(`ledger`) and the held-out examples one by one, written through one layer shared by every engine (`run`)."""
