#!/usr/bin/env node
// Entry point of the installed `ebpf` command: runs the compiled CLI.
import '../dist/cli/main.js';
