--- slipway demo: the whole story on the local driver (docs/guide.md).
local demo = require "slipway.demo"

return {
  summary = "run the demo: bump, deploy, a broken bump reverted by itself, history",
  usage = [==[
usage: slipway demo [--keep] [--dir DIR]

Builds an example mybinder-like deployment in a temporary git repository,
serves a chart repository and a registry's tags on 127.0.0.1, and runs
`slipway bump --commit`, `slipway deploy`, a bump to a broken release whose
deploy fails its test and is reverted, and `slipway history`. It checks its
own outcomes (exit 1 when one is wrong), stops every process it started and
removes its directory.

  --keep      keep the directory (printed at the end)
  --dir DIR   make the temporary directory under DIR (default $TMPDIR or /tmp)]==],
  run = function(argv)
    local opts = {}
    local i = 1
    while i <= #argv do
      local a = argv[i]
      if a == "--keep" then opts.keep = true
      elseif a == "--dir" then i = i + 1; opts.dir = argv[i]
      elseif a:match("^%-%-dir=") then opts.dir = a:sub(7)
      else
        io.stderr:write("slipway demo: unknown argument '", a, "'\n")
        return 2
      end
      i = i + 1
    end
    return demo.run(opts)
  end,
}
