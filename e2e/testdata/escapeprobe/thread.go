package main

import goruntime "runtime"

func lockOSThread() { goruntime.LockOSThread() }
