#!/usr/bin/env node
// Entry point of the installed `ebpf` command: runs the compiled CLI.
import '../dist/src/cli/main.js';
