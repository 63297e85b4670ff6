"""The feature sizes the Wide & Deep ranker and its network share (buckets of each feature)."""

BANDS = 5
HOURS = 6
DEVICES = 8
CHANNELS = 16
CATEGORIES = 64
# Dense features: position in the generator's list, its score standardized within the list,
# the item's popularity, the user's affinity for the item's category.
DENSE = 4
