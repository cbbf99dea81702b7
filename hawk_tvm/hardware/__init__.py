"""Hardware profiles: memory levels, compute units and constraints of a target, loaded from data files."""

from .profile import (
    DataPath,
    HardwareProfile,
    MatrixTile,
    MatrixUnit,
    MemoryLevel,
    ProfileError,
    ScalarUnit,
    VectorUnit,
    dtype_bytes,
    list_profiles,
    load_profile,
    profile_from_dict,
)

__all__ = [
    "DataPath",
    "HardwareProfile",
    "MatrixTile",
    "MatrixUnit",
    "MemoryLevel",
    "ProfileError",
    "ScalarUnit",
    "VectorUnit",
    "dtype_bytes",
    "list_profiles",
    "load_profile",
    "profile_from_dict",
]
