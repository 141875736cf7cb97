"""The release stage: how a blessed model (and a report) reaches its destination.

`protocol` (the push protocol GatedPusher runs), `publication` (folders that
appear to readers whole), `destination_lock` (one writer at a time on a
destination), `serving_versions` (the versions at a push destination and which
are usable).
"""
