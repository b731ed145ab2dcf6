package main

// authFileUsage documents --auth-file, for the commands that connect to
// cache ports.
const authFileUsage = "credentials for nodes that require authentication (zonecached --auth-file, memcached -Y): a `file` with one username:password line, not readable by group or others"
