---@meta slipway.fs
-- Local files (docs/fs.md). Failures raise structured errors whose code is
-- the errno name (ENOENT, EACCES, ...) with fields `path` and `op`.

---@class slipway.fs
local fs = {}

---@class slipway.FileStat
---@field type "file"|"directory"|"link"|"fifo"|"socket"|"device"|"other"
---@field size integer
---@field mode integer permission bits (0644 is 420)
---@field mtime number seconds since the epoch, with fractions
---@field uid integer
---@field gid integer

---An exclusive flock on a file; released by :unlock(), the end of a
---`<close>` scope, garbage collection or the process' exit.
---@class slipway.Lock
local Lock = {}

---Release the lock; true if it was held.
---@return boolean
function Lock:unlock() end

---Whether it is still held.
---@return boolean
function Lock:held() end

---The whole file (binary safe).
---@param path string
---@return string
function fs.read(path) end

---Replace the file atomically (temp file + fsync + rename).
---@param path string
---@param data string
---@param opts? {mode?: integer, redact?: boolean}
function fs.write(path, data, opts) end

---Append with one write(2), creating the file; secrets masked unless redact = false.
---@param path string
---@param data string
---@param opts? {sync?: boolean, redact?: boolean}
function fs.append(path, data, opts) end

---A broken symlink does not exist.
---@param path string
---@return boolean
function fs.exists(path) end

---@param path string
---@return boolean
function fs.isfile(path) end

---@param path string
---@return boolean
function fs.isdir(path) end

---Raises ENOENT when missing; `follow = false` reports links as "link".
---@param path string
---@param opts? {follow?: boolean}
---@return slipway.FileStat
function fs.stat(path, opts) end

---Sorted names in dir, without "." and "..".
---@param dir string
---@return string[]
function fs.list(dir) end

---Sorted matching paths ({} when none): *, ?, [abc], {a,b}, ~ (no **).
---@param pattern string
---@return string[]
function fs.glob(pattern) end

---Create a directory and its missing parents (mkdir -p).
---@param path string
---@param opts? {mode?: integer}
function fs.mkdir(path, opts) end

---Remove a file, link or empty directory; a tree with recursive.
---@param path string
---@param opts? {recursive?: boolean, missing_ok?: boolean}
function fs.remove(path, opts) end

---A new private directory (mode 0700), removed at exit unless keep.
---@param opts? {keep?: boolean, dir?: string}
---@return string path
function fs.tempdir(opts) end

---An exclusive lock; raises code "locked" with `holder = {pid, host, since, note}`
---when held (after retrying for `wait` seconds; an error `give_up()` returns
---before a pause is raised instead).
---@param path string
---@param opts? {wait?: number, note?: string, give_up?: fun(): any}
---@return slipway.Lock
function fs.lock(path, opts) end

---The absolute current directory as the kernel knows it (getcwd(3)), not
---a stale $PWD; raises ENOENT when it was removed.
---@return string
function fs.cwd() end

---The absolute path with every symlink, "." and ".." resolved (realpath(3));
---the path must exist (raises ENOENT, ENOTDIR, EACCES, ELOOP, ...).
---@param path string
---@return string
function fs.realpath(path) end

---Join path parts with "/" (an absolute part restarts the path).
---@param ... string
---@return string
function fs.join(...) end

---@param path string
---@return string
function fs.dirname(path) end

---@param path string
---@return string
function fs.basename(path) end

return fs
