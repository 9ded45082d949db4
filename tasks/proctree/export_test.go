package proctree

// KillCgroup is killCgroup, for the tests.
var KillCgroup = killCgroup

// CgroupGone is cgroupGone, for the tests.
var CgroupGone = cgroupGone
