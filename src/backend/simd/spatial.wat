;; kdq's per-channel spatial kernels for the wasm backend: depthwise convolution (channel
;; multiplier 1) forward and both gradients, and average pooling's gradient
;; (src/backend/wasm-kernels/depthwise-conv2d*.ts, avg-pool-grad.ts). NHWC, dilation 1, C a
;; multiple of 4, one channel per lane; every output pixel's taps are clipped to the image once
;; and the channels run inside. Every pointer is a byte offset into the backend's memory.
;; `depthwise` works on CW of the C channels (pixels C apart) from where its pointers point; kdq
;; passes CW = C, and two threads take different images.
;; Built like kernels.wat (scripts/build-simd.ts).
(module
  (import "env" "memory" (memory 1 65536))

  ;; The filter taps of output pixel (oy, ox) that fall inside the image: rows [kh0, kh1) and
  ;; columns [kw0, kw1) of the filter, returned packed as kh0 | kh1 << 8 | kw0 << 16 | kw1 << 24
  ;; (filters up to 255 taps a side).
  (func $taps (param $oy i32) (param $ox i32) (param $H i32) (param $W i32) (param $FH i32) (param $FW i32)
    (param $sh i32) (param $sw i32) (param $top i32) (param $left i32) (result i32)
    (local $iy i32) (local $ix i32) (local $kh0 i32) (local $kh1 i32) (local $kw0 i32) (local $kw1 i32)
    (local.set $iy (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)))
    (local.set $ix (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)))
    (local.set $kh0 (select (i32.sub (i32.const 0) (local.get $iy)) (i32.const 0) (i32.lt_s (local.get $iy) (i32.const 0))))
    (local.set $kw0 (select (i32.sub (i32.const 0) (local.get $ix)) (i32.const 0) (i32.lt_s (local.get $ix) (i32.const 0))))
    (local.set $kh1 (i32.sub (local.get $H) (local.get $iy)))
    (if (i32.gt_s (local.get $kh1) (local.get $FH)) (then (local.set $kh1 (local.get $FH))))
    (if (i32.lt_s (local.get $kh1) (local.get $kh0)) (then (local.set $kh1 (local.get $kh0))))
    (local.set $kw1 (i32.sub (local.get $W) (local.get $ix)))
    (if (i32.gt_s (local.get $kw1) (local.get $FW)) (then (local.set $kw1 (local.get $FW))))
    (if (i32.lt_s (local.get $kw1) (local.get $kw0)) (then (local.set $kw1 (local.get $kw0))))
    (i32.or (i32.or (local.get $kh0) (i32.shl (local.get $kh1) (i32.const 8)))
      (i32.or (i32.shl (local.get $kw0) (i32.const 16)) (i32.shl (local.get $kw1) (i32.const 24)))))

;; One filter tap's work over the C channels of a row (cB bytes), by mode (see $depthwise):
  ;; o is the output pixel's row, i the input pixel's, f the tap's filter row.
  (func $tap_row (param $mode i32) (param $o i32) (param $i i32) (param $f i32) (param $cB i32) (param $sv v128)
    (local $c i32)
    (if (i32.eqz (local.get $mode)) (then
      (block $d0 (loop $l0
        (br_if $d0 (i32.ge_u (local.get $c) (local.get $cB)))
        (v128.store (i32.add (local.get $o) (local.get $c))
          (f32x4.relaxed_madd (v128.load (i32.add (local.get $i) (local.get $c))) (v128.load (i32.add (local.get $f) (local.get $c))) (v128.load (i32.add (local.get $o) (local.get $c)))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $l0)))
      (return)))
    (if (i32.eq (local.get $mode) (i32.const 1)) (then
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $c) (local.get $cB)))
        (v128.store (i32.add (local.get $i) (local.get $c))
          (f32x4.relaxed_madd (v128.load (i32.add (local.get $o) (local.get $c))) (v128.load (i32.add (local.get $f) (local.get $c))) (v128.load (i32.add (local.get $i) (local.get $c)))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $l1)))
      (return)))
    (if (i32.eq (local.get $mode) (i32.const 2)) (then
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $c) (local.get $cB)))
        (v128.store (i32.add (local.get $f) (local.get $c))
          (f32x4.relaxed_madd (v128.load (i32.add (local.get $i) (local.get $c))) (v128.load (i32.add (local.get $o) (local.get $c))) (v128.load (i32.add (local.get $f) (local.get $c)))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $l2)))
      (return)))
    (block $d3 (loop $l3
      (br_if $d3 (i32.ge_u (local.get $c) (local.get $cB)))
      (v128.store (i32.add (local.get $i) (local.get $c))
        (f32x4.add (v128.load (i32.add (local.get $i) (local.get $c))) (f32x4.mul (v128.load (i32.add (local.get $o) (local.get $c))) (local.get $sv))))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (br $l3))))

  ;; For every output pixel and every filter tap inside the image, with o = the output pixel's
  ;; row, i = the input pixel's row and f = the tap's row of C values:
  ;;   mode 0 (forward):          o = bias (flags & 1) or 0, then o += i f over the taps, then relu (flags & 2)
  ;;   mode 1 (input gradient):   i += o f   (the caller zeroes i first)
  ;;   mode 2 (filter gradient):  f += i o   (the caller zeroes f first)
  ;;   mode 3 (average pool grad): i += o * scale (f unused)
  (func (export "depthwise")
    (param $in i32) (param $f i32) (param $bias i32) (param $out i32) (param $mode i32) (param $flags i32) (param $scale f32)
    (param $N i32) (param $H i32) (param $W i32) (param $C i32) (param $CW i32) (param $OH i32) (param $OW i32)
    (param $FH i32) (param $FW i32) (param $sh i32) (param $sw i32) (param $top i32) (param $left i32)
    (local $n i32) (local $oy i32) (local $ox i32) (local $t i32) (local $kh i32) (local $kw i32) (local $kw0 i32) (local $kh1 i32) (local $kw1 i32)
    (local $cB i32) (local $cwB i32) (local $c i32) (local $o i32) (local $ip i32) (local $fp i32) (local $sv v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $cwB (i32.shl (local.get $CW) (i32.const 2)))
    (local.set $sv (f32x4.splat (local.get $scale)))
    (local.set $o (local.get $out))
    (block $ndone (loop $nl
      (br_if $ndone (i32.ge_u (local.get $n) (local.get $N)))
      (local.set $oy (i32.const 0))
      (block $ydone (loop $yl
        (br_if $ydone (i32.ge_u (local.get $oy) (local.get $OH)))
        (local.set $ox (i32.const 0))
        (block $xdone (loop $xl
          (br_if $xdone (i32.ge_u (local.get $ox) (local.get $OW)))
          (local.set $t (call $taps (local.get $oy) (local.get $ox) (local.get $H) (local.get $W) (local.get $FH) (local.get $FW)
            (local.get $sh) (local.get $sw) (local.get $top) (local.get $left)))
          (local.set $kh1 (i32.and (i32.shr_u (local.get $t) (i32.const 8)) (i32.const 255)))
          (local.set $kw0 (i32.and (i32.shr_u (local.get $t) (i32.const 16)) (i32.const 255)))
          (local.set $kw1 (i32.shr_u (local.get $t) (i32.const 24)))
          (if (i32.eqz (local.get $mode)) (then
            (if (i32.and (local.get $flags) (i32.const 1))
              (then (memory.copy (local.get $o) (local.get $bias) (local.get $cwB)))
              (else (memory.fill (local.get $o) (i32.const 0) (local.get $cwB))))))
          (local.set $kh (i32.and (local.get $t) (i32.const 255)))
          (block $khdone (loop $khl
            (br_if $khdone (i32.ge_u (local.get $kh) (local.get $kh1)))
            ;; input pixel (n, oy sh - top + kh, ox sw - left + kw0) and filter tap (kh, kw0)
            (local.set $ip (i32.add (local.get $in)
              (i32.mul (i32.add
                (i32.mul (i32.add (i32.mul (local.get $n) (local.get $H)) (i32.add (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $top)) (local.get $kh))) (local.get $W))
                (i32.add (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $left)) (local.get $kw0)))
                (local.get $cB))))
            (local.set $fp (i32.add (local.get $f) (i32.mul (i32.add (i32.mul (local.get $kh) (local.get $FW)) (local.get $kw0)) (local.get $cB))))
            (local.set $kw (local.get $kw0))
            (block $kwdone (loop $kwl
              (br_if $kwdone (i32.ge_u (local.get $kw) (local.get $kw1)))
              (call $tap_row (local.get $mode) (local.get $o) (local.get $ip) (local.get $fp) (local.get $cwB) (local.get $sv))
              (local.set $ip (i32.add (local.get $ip) (local.get $cB)))
              (local.set $fp (i32.add (local.get $fp) (local.get $cB)))
              (local.set $kw (i32.add (local.get $kw) (i32.const 1)))
              (br $kwl)))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $khl)))
          (if (i32.and (i32.eqz (local.get $mode)) (i32.ne (i32.and (local.get $flags) (i32.const 2)) (i32.const 0))) (then
            (local.set $c (i32.const 0))
            (block $rdone (loop $rl
              (br_if $rdone (i32.ge_u (local.get $c) (local.get $cwB)))
              (v128.store (i32.add (local.get $o) (local.get $c)) (f32x4.max (v128.load (i32.add (local.get $o) (local.get $c))) (v128.const i32x4 0 0 0 0)))
              (local.set $c (i32.add (local.get $c) (i32.const 16)))
              (br $rl)))))
          (local.set $o (i32.add (local.get $o) (local.get $cB)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $xl)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $yl)))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $nl))))
)
