"""Names of the HX-Trigger events pages listen to."""

# Sent after any change to slots or schedules made in this browser; the on-call page's live parts
# (highlight, rows, hand-offs) refresh when they hear it.
ONCALL_CHANGED = "oncall-changed"
