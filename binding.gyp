{
  "targets": [
    {
      "target_name": "ebpf_native",
      "sources": ["native/ebpf.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
