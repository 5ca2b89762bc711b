-- Fault matrix, a full state directory (docs/testing.md, "The fault
-- matrix"), out of inodes: `slipway deploy --state-dir` on a small tmpfs, filled up at
-- every point a deploy writes (few inodes: the next file cannot be made;
-- few pages: the next byte cannot be written), from the lock file to the
-- last journal line. Each deploy exits 0 or 1 with a message naming the
-- path it could not write (never a traceback, never a hang), its journal
-- is valid JSON lines as far as it goes, its run is in the shared record
-- (state: git, in the repository, not on the tmpfs) with that status, any
-- service it leaves is the current release of its environment (`stop
-- --all` finds it) and `stop --all` works on the full directory.
-- Needs `mount -t tmpfs` (root): skipped with the reason otherwise.
local T = require "slipway.testing"
local FS = require "fullstate"

T.test("out of inodes at every file a deploy makes", function()
  local list = {}
  for n = 4, 80 do list[#list + 1] = "nr_inodes=" .. n .. ",size=4m" end
  local at = FS.matrix(list)
  T.truthy(FS.distinct(at) >= 8, "the deploys ran out at many different files")
end, {timeout = 240})

T.run()
