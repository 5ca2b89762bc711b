--- slipway demo: the whole story on the local driver (docs/guide.md).
local demo = require "slipway.demo"

return {
  summary = "run the demo: bump, deploy, a broken bump reverted by itself, history",
  description = [==[
Builds an example mybinder-like deployment in a temporary git repository,
serves a chart repository and a registry's tags on 127.0.0.1, and runs
`slipway bump --commit`, `slipway deploy`, a bump to a broken release whose
deploy fails its test and is reverted, and `slipway history`. It checks its
own outcomes (exit 1 when one is wrong), stops every process it started and
removes its directory.]==],
  options = {
    {name = "keep", type = "boolean", help = "keep the directory (printed at the end)"},
    {name = "dir", metavar = "DIR", help = "make the temporary directory under DIR (default $TMPDIR or /tmp)"},
  },
  run = function(a)
    return demo.run{keep = a.keep, dir = a.dir}
  end,
}
