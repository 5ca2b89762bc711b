-- slipway.version: table-driven tests with real tags (mybinder's chart and
-- image tags, the shapes that broke its bump bot), the SemVer 2.0.0 and
-- PEP 440 orderings, Helm constraints checked against the real helm.
local T = require "slipway.testing"
local version = require "slipway.version"

-- {a, b, expected compare(a, b), scheme}
local order = {
  -- SemVer 2.0.0 §11, the spec's own chain
  {"1.0.0-alpha", "1.0.0-alpha.1", -1}, {"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
  {"1.0.0-alpha.beta", "1.0.0-beta", -1}, {"1.0.0-beta", "1.0.0-beta.2", -1},
  {"1.0.0-beta.2", "1.0.0-beta.11", -1}, {"1.0.0-beta.11", "1.0.0-rc.1", -1},
  {"1.0.0-rc.1", "1.0.0", -1}, {"1.0.0", "2.0.0", -1}, {"2.0.0", "2.1.0", -1},
  {"2.1.0", "2.1.1", -1}, {"1.9.0", "1.10.0", -1}, {"1.10.0", "1.9.0", 1},
  -- build metadata is ignored for order
  {"1.0.0+20130313144700", "1.0.0+exp.sha.5114f85", 0}, {"1.0.0-beta+exp.sha.5114f85", "1.0.0-beta", 0},
  {"v1.2.3", "1.2.3", 0},
  -- the binderhub chart (index.yaml, Chart.yaml of mybinder.org-deploy)
  {"1.0.0-0.dev.git.3506.hba24eb2a", "1.0.0-0.dev.git.3983.h383374de", -1},
  {"1.0.0-0.dev.git.3983.h383374de", "1.0.0-0.dev.git.3506.hba24eb2a", 1},
  {"1.0.0-0.dev.git.999.h1234567", "1.0.0-0.dev.git.1000.h1234567", -1},   -- numeric, not text
  {"1.0.0-0.dev.git.3506.hba24eb2a", "1.0.0", -1},
  {"0.2.0-n988.h72e1852", "1.0.0-0.dev.git.1.h0000000", -1},
  -- "n1011" and "n988" are alphanumeric identifiers: compared as text, as the spec says
  {"0.2.0-n1011.hb49edf6", "0.2.0-n988.h72e1852", -1},
  {"0.2.0-n471.hf76e37e", "0.2.0-n988.h72e1852", -1},
  {"0.3.2-0.dev.git.267.h766bf8f", "0.3.2", -1},
  {"41.1.1", "41.2.0", -1}, {"9.21.1", "10.0.0", -1},
  -- PEP 440: repo2docker images (the local part written with "-" in tags)
  {"2026.4.1.dev44-g97bb4e45a", "2026.4.1.dev45-gabcdef01", -1, "pep440"},
  {"2026.4.1.dev44+g97bb4e45a", "2026.4.1.dev44-g97bb4e45a", 0, "pep440"},
  {"2026.4.1.dev9-g1111111", "2026.4.1.dev44-g97bb4e45a", -1, "pep440"},
  {"2026.4.0", "2026.4.1.dev44-g97bb4e45a", -1, "pep440"},
  {"2026.4.1.dev44-g97bb4e45a", "2026.4.1", -1, "pep440"},
  {"2026.4.1", "2026.4.1.post1", -1, "pep440"},
  {"2024.07.0", "2024.7.0", 0, "pep440"}, {"1.0", "1.0.0", 0, "pep440"},
  {"1.0.dev1", "1.0a1", -1, "pep440"}, {"1.0a1", "1.0a2.dev1", -1, "pep440"},
  {"1.0a2.dev1", "1.0a2", -1, "pep440"}, {"1.0a2", "1.0b1", -1, "pep440"},
  {"1.0b1", "1.0rc1", -1, "pep440"}, {"1.0rc1", "1.0", -1, "pep440"},
  {"1.0", "1.0.post1.dev1", -1, "pep440"}, {"1.0.post1.dev1", "1.0.post1", -1, "pep440"},
  {"1.0-1", "1.0.post1", 0, "pep440"}, {"1.0.0-beta.1", "1.0.0b1", 0, "pep440"},
  {"1.0alpha1", "1.0a1", 0, "pep440"}, {"1.0c1", "1.0rc1", 0, "pep440"},
  {"1.0", "1.0+local", -1, "pep440"}, {"1.0+abc", "1.0+5", -1, "pep440"},
  {"1.0+1.2", "1.0+1.10", -1, "pep440"}, {"1!0.1", "2.0", 1, "pep440"},
  {"V2.0", "2.0", 0, "pep440"}, {"2022.10.0", "2023.01.0", -1, "pep440"},
  -- git describe: 9 commits before 12, both after the tag, before the next
  {"2024.07.0-9.g4f0c83a", "2024.07.0-12.gdef5678", -1, "gitdescribe"},
  {"2024.07.0-12.gdef5678", "2024.07.0-9.g4f0c83a", 1, "gitdescribe"},
  {"2024.07.0", "2024.07.0-9.g4f0c83a", -1, "gitdescribe"},
  {"2024.07.0-143.g7e3fb8c", "2024.08.0", -1, "gitdescribe"},
  {"v1.2.3-4-gabcdef0", "v1.2.3-10-g0123456", -1, "gitdescribe"},
  -- the format change: describe tags then PEP 440 dev tags, one family
  {"2024.07.0-143.g7e3fb8c", "2026.4.1.dev44-g97bb4e45a", -1, {"pep440", "gitdescribe"}},
  {"2024.07.0-9-g4f0c83a", "2024.07.0-12.gdef5678", -1, {"pep440", "gitdescribe"}},
  {"2024.07.0", "2024.07.0-9.g4f0c83a", -1, {"pep440", "gitdescribe"}},
}

T.test("compare: the orderings table", function()
  for i, row in ipairs(order) do
    local a, b, want, scheme = row[1], row[2], row[3], row[4]
    T.eq(version.compare(a, b, scheme), want, "row " .. i .. " " .. a .. " vs " .. b)
    T.eq(version.compare(b, a, scheme), -want, "row " .. i .. " reversed")
  end
end)

-- strings a scheme must refuse (never sorted as text)
local unreadable = {
  semver = {"1.2", "1", "01.2.3", "1.02.3", "1.2.3-01", "1.2.3-", "1.2.3+", "1.2.3-a..b",
            "latest", "main", "97bb4e45a", "1.2.3.4", "", "1.2.3-be_ta"},
  pep440 = {"latest", "main", "97bb4e45a", "4f0c83a", "1234567", "12345c6",
            "2024.07.0-9.g4f0c83a", "2024.07.0-9-g4f0c83a", "1.0+", "1.0+a..b", "sha-97bb4e4",
            "2026.4.1.dev44_g97bb4e45a!"},
  gitdescribe = {"latest", "97bb4e45a", "2024.07.0-9.gzzz", "-9.gabc1234"},
}

T.test("compare raises for what the scheme cannot read", function()
  for scheme, list in pairs(unreadable) do
    for _, s in ipairs(list) do
      T.falsy(version.parse(s, scheme), scheme .. " must not read " .. string.format("%q", s))
      local err = T.raises(function() version.compare(s, "2.0.0", scheme) end, "cannot be read")
      T.eq(err.code, "version")
    end
  end
  T.raises(function() version.compare("1.0.0", "1.0.0", "calver") end, "unknown scheme")
  T.raises(function() version.compare("1.0.0", "1.0.0", {"semver", "pep440"}) end, "cannot be ordered")
end)

T.test("parse reports scheme, pre-release and build", function()
  local v = version.parse("1.0.0-0.dev.git.3506.hba24eb2a")
  T.eq(v.scheme, "semver"); T.eq(v.prerelease, true); T.eq(v.text, "1.0.0-0.dev.git.3506.hba24eb2a")
  T.eq(version.parse("1.0.0+build.1").prerelease, false)
  T.eq(version.parse("2026.4.1.dev44-g97bb4e45a", "pep440").prerelease, true)
  T.eq(version.parse("2026.4.1.post2", "pep440").prerelease, false)
  T.eq(version.parse("2024.07.0-9.g4f0c83a", {"pep440", "gitdescribe"}).scheme, "gitdescribe")
  T.eq(version.parse("2024.07.0", {"pep440", "gitdescribe"}).scheme, "pep440")
end)

T.test("sha: the commit a version carries", function()
  T.eq(version.sha("1.0.0-0.dev.git.3983.h383374de"), "383374de")
  T.eq(version.sha("0.2.0-n471.hf76e37e"), "f76e37e")
  T.eq(version.sha("2026.4.1.dev44-g97bb4e45a"), "97bb4e45a")
  T.eq(version.sha("2026.4.1.dev44+g97bb4e45a"), "97bb4e45a")
  T.eq(version.sha("2024.07.0-9.g4f0c83a"), "4f0c83a")
  T.eq(version.sha("2024.07.0"), nil)
  T.eq(version.sha("1.2.3"), nil)
end)

-- the repo2docker tags as they appear on quay.io, every format at once
local r2d_tags = {
  "latest", "main", "97bb4e45a", "2021.08.0", "2022.02.0", "2022.10.0", "2023.06.0",
  "2024.03.0", "2024.07.0", "2024.07.0-9.g4f0c83a", "2024.07.0-12.gdef5678",
  "2024.07.0-143.g7e3fb8c", "2025.8.0.dev3-g1a2b3c4", "2026.4.1.dev9-g1111111",
  "2026.4.1.dev44-g97bb4e45a", "sha256-abc",
}

T.test("latest: repo2docker across the format change", function()
  local scheme = {"pep440", "gitdescribe"}
  T.eq(version.latest(r2d_tags, {scheme = scheme, devel = true}), "2026.4.1.dev44-g97bb4e45a")
  -- releases only: the regex that excluded releases must not come back
  T.eq(version.latest(r2d_tags, {scheme = scheme}), "2024.07.0")
  -- a release after the dev builds wins even with devel
  local with_release = {table.unpack(r2d_tags)}
  with_release[#with_release + 1] = "2026.4.1"
  T.eq(version.latest(with_release, {scheme = scheme, devel = true}), "2026.4.1")
  -- "-9" before "-12" (the bug that sorted -9 after -12)
  T.eq(version.latest({"2024.07.0-9.g4f0c83a", "2024.07.0-12.gdef5678"}, {scheme = "gitdescribe", devel = true}),
       "2024.07.0-12.gdef5678")
  -- declaring only pep440 skips the describe tags, visibly
  local ok, skipped = version.sort(r2d_tags, {scheme = "pep440", devel = true})
  T.eq(ok[1], "2026.4.1.dev44-g97bb4e45a")
  local reasons = {}
  for _, s in ipairs(skipped) do reasons[s.text] = s.reason end
  T.eq(reasons["2024.07.0-9.g4f0c83a"], "unreadable")
  T.eq(reasons["latest"], "unreadable")
  T.eq(reasons["97bb4e45a"], "unreadable")
  -- a pep440 constraint
  T.eq(version.latest(r2d_tags, {scheme = scheme, devel = true, constraint = "<2026"}), "2025.8.0.dev3-g1a2b3c4")
  T.eq(version.latest(r2d_tags, {scheme = scheme, constraint = ">=2022, <2024"}), "2023.06.0")
end)

T.test("unreadable tags are listed at debug level, never sorted", function()
  local log = require "slipway.log"
  local saved = log.configure({})
  local level, stream = saved.level, saved.stream
  log.configure({level = "debug", stream = false})
  local lines = {}
  local remove = log.add_sink(function(rec) lines[#lines + 1] = rec.message end)
  local best = version.latest({"latest", "2024.07.0", "97bb4e45a", "2024.07.0-9.g4f0c83a"}, {scheme = "pep440"})
  remove()
  log.configure({level = level, stream = stream})
  T.eq(best, "2024.07.0")
  local all = table.concat(lines, "\n")
  T.match(all, 'skipped "latest"')
  T.match(all, 'skipped "97bb4e45a": pep440: a bare git sha')
  T.match(all, 'skipped "2024.07.0%-9.g4f0c83a": pep440: git describe output %(declare gitdescribe%)')
end)

T.test("latest: nothing qualifies gives nil", function()
  T.eq(version.latest({"latest", "main", "97bb4e45a"}, {scheme = "pep440", devel = true}), nil)
  T.eq(version.latest({}, {}), nil)
  T.eq(version.latest({"1.0.0-beta"}, {}), nil)
  T.eq(version.latest({"1.0.0-beta"}, {devel = true}), "1.0.0-beta")
end)

T.test("latest: tables with a version field return the item too", function()
  local entries = {{version = "1.0.0", created = "a"}, {version = "1.1.0", created = "b"}, {version = "junk"}}
  local best, item = version.latest(entries)
  T.eq(best, "1.1.0"); T.eq(item.created, "b")
end)

-- Helm constraint semantics (Masterminds/semver v3), {constraint, version, ok}
local constraints = {
  {">=1.0.0-0", "1.0.0-0.dev.git.3506.hba24eb2a", true},
  {">=1.0.0", "1.0.0-0.dev.git.3506.hba24eb2a", false},   -- no pre-release in the comparison
  {">=1.0.0-0 <2", "1.5.0", true}, {">=1.0.0-0 <2", "2.0.0", false},
  {">=1.0.0-0 <2", "0.2.0-n988.h72e1852", false},
  {">=1.0.0-0, <2", "1.0.0-0.dev.git.1.habc1234", false},   -- "<2" has no pre-release: gate
  {"^1.2", "1.2.0", true}, {"^1.2", "1.9.9", true}, {"^1.2", "2.0.0", false}, {"^1.2", "1.1.9", false},
  {"^0.2.3", "0.2.9", true}, {"^0.2.3", "0.3.0", false}, {"^0.0.3", "0.0.3", true}, {"^0.0.3", "0.0.4", false},
  {"^0", "0.9.0", true}, {"^0", "1.0.0", false},
  {"~1.2.3", "1.2.9", true}, {"~1.2.3", "1.3.0", false}, {"~1.2.3", "1.2.2", false},
  {"~1", "1.9.0", true}, {"~1", "2.0.0", false}, {"~1.2", "1.2.7", true}, {"~1.2", "1.3.0", false},
  {"1.x", "1.4.0", true}, {"1.x", "2.0.0", false}, {"1.2.x", "1.2.5", true}, {"1.2.x", "1.3.0", false},
  {"*", "3.0.0", true}, {"", "3.0.0", true}, {"*", "3.0.0-beta", false},
  {"1.2.3", "1.2.3", true}, {"=1.2.3", "1.2.4", false}, {"!=1.2.3", "1.2.4", true}, {"!=1.2.3", "1.2.3", false},
  {">1.2", "1.2.1", false}, {">1.2", "1.3.0", true}, {">1.2.0", "1.2.1", true}, {">1.x", "1.9.0", false}, {">1.x", "2.0.0", true},
  {"<=1.2", "1.2.9", true}, {"<=1.2", "1.3.0", false}, {"<=1.2.3", "1.2.4", false},
  {"1.2 - 1.4.5", "1.4.5", true}, {"1.2 - 1.4.5", "1.4.6", false}, {"1.2 - 1.4.5", "1.1.9", false},
  {"^1.2 || ^3", "3.1.0", true}, {"^1.2 || ^3", "2.1.0", false},
  {"<1.0.0-0", "0.2.0-n988.h72e1852", true}, {"<1.0.0-0", "1.0.0-0.dev.git.1.habc1234", false},
  {"=> 1.0, =< 2.0", "1.5.0", true}, {"~> 2.1", "2.1.9", true}, {"~> 2.1", "2.2.0", false},
  {"v1.2.x", "1.2.4", true},
}

T.test("constraints: Helm's syntax and rules", function()
  for i, row in ipairs(constraints) do
    T.eq(version.constraint(row[1]):check(row[2]), row[3], "row " .. i .. ": '" .. row[1] .. "' on " .. row[2])
  end
  -- devel lifts the pre-release gate
  T.eq(version.constraint("^1.2"):check("1.3.0-beta.1", true), true)
  T.eq(version.constraint("^1.2"):check("1.3.0-beta.1", false), false)
  for _, bad in ipairs({">>1.0", "1.0 |", "~=1.2", ">= ", "abc", "1.2.3.4", "<1 | >2"}) do
    T.raises(function() version.constraint(bad) end, "constraint", "'" .. bad .. "' must be refused")
  end
end)

T.test("latest with devel and constraint on the real binderhub versions", function()
  local fs = require "slipway.fs"
  local text = fs.read(os.getenv("SLIPWAY_SHARED") .. "/fixtures/helm-chart-index/index.yaml")
  -- the versions of the binderhub entries, read without the yaml module
  local versions = {}
  local section = text:match("\n  binderhub:\n(.-)\n  jupyterhub:\n")
  for v in section:gmatch("\n    version: ([^\n]+)") do versions[#versions + 1] = v end
  T.truthy(#versions > 500, "binderhub versions found: " .. #versions)
  T.eq(version.latest(versions, {devel = true}), "1.0.0-0.dev.git.3506.hba24eb2a")
  T.eq(version.latest(versions, {constraint = "<1.0.0-0"}), "0.2.0-n988.h72e1852")
  T.eq(version.latest(versions, {}), nil)   -- binderhub has never made a release
  -- fast on the real index because a pick is one pass: each version parsed
  -- once (not once per comparison of a sort). Counted, not timed.
  local parses, parse = 0, version.parse
  version.parse = function(...) parses = parses + 1; return parse(...) end
  local ok, err = pcall(function()
    for _ = 1, 10 do version.latest(versions, {devel = true}) end
  end)
  version.parse = parse
  if not ok then error(err, 0) end
  T.eq(parses, 10 * #versions, "10 picks over " .. #versions .. " versions: one parse each")
end)

T.test("the helm scheme: semver as helm reads a chart index (sources_spec checks it against helm)", function()
  T.eq(version.compare("v0.4", "0.4.0", "helm"), 0)
  T.eq(version.compare("v0.4", "0.4.1", "helm"), -1)
  T.eq(version.compare("v0.6", "0.5.0", "helm"), 1)
  T.eq(version.compare("01.2.3", "1.2.3", "helm"), 0)
  T.eq(version.compare("1.2-beta", "1.2.0", "helm"), -1)
  T.eq(version.parse("v0.4", "helm").text, "v0.4")
  T.eq(version.parse("v0.4", "semver"), nil, "strict SemVer does not read v0.4")
  T.eq(version.parse("1.2.3-01", "helm"), nil)
  T.eq(version.parse("1.2.3.4", "helm"), nil)
  T.eq(version.latest({"v0.3.1", "v0.4", "0.5.0", "v0.6"}, {scheme = "helm", constraint = "<0.5.0"}), "v0.4")
  T.eq(version.latest({"v0.3.1", "v0.4", "0.5.0", "v0.6"}, {scheme = "semver", constraint = "<0.5.0"}), "v0.3.1")
  -- one family with semver
  T.eq(version.compare("1.0.0", "v1", {"semver", "helm"}), 0)
  T.raises(function() version.schemes_of({"helm", "pep440"}) end, "cannot be ordered")
end)

T.test("timestamps of index.yaml", function()
  T.eq(version.timestamp("1970-01-01T00:00:00Z"), 0)
  T.eq(version.timestamp("2024-08-08T18:05:34Z"), 1723140334)
  T.near(version.timestamp("2024-08-08T18:05:34.413844784Z"), 1723140334.413844784, 1e-6)
  T.eq(version.timestamp("2024-08-08T20:05:34+02:00"), 1723140334)
  T.truthy(version.timestamp("2024-08-08T18:05:34.5Z") > version.timestamp("2024-08-08T18:05:34Z"))
  T.eq(version.timestamp("yesterday"), nil)
end)

T.test("constraint: parsed constraints are cached, and the cache is bounded", function()
  local version = require "slipway.version"
  T.truthy(version.constraint(">=1.2.3") == version.constraint(">=1.2.3"), "the same text gives the cached object")
  collectgarbage("collect")
  local before = collectgarbage("count")
  for i = 1, 20000 do version.constraint(">=" .. i .. ".0.0 <" .. (i + 1) .. ".0.0 || ~" .. i .. ".1") end
  collectgarbage("collect")
  local grown = collectgarbage("count") - before
  T.truthy(grown < 2048, string.format("20,000 distinct constraints kept %.0f KB", grown))
end)

T.run()
