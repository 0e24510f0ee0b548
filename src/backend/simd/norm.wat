;; kdq's batch normalization (training) and relu gradient kernels for the wasm backend
;; (src/backend/wasm-kernels/batch-norm.ts, relu.ts). Tensors are `rows` rows of C channels
;; (NHWC flattened), C a multiple of 4, one channel per lane. Per-channel sums run over blocks
;; of 256 rows, each block summed on its own and then added to the total, so a sum of n values
;; rounds about as much as one of 256 + n / 256 (a plain running sum: n). Every pointer is a
;; byte offset into the backend's memory. Built like kernels.wat (scripts/build-simd.ts).
(module
  (import "env" "memory" (memory 1 65536))

  ;; parts[b][c] = sum over block b's rows of f(x)[r, c], where f is x (mode 0) or (x - mean)^2
  ;; (mode 1; mean is read only then), for the blocks of 256 rows of [x, x + rows C): each block
  ;; summed on its own from 0, so a range of whole blocks gives the same partials on any thread.
  (func (export "channel_partials")
    (param $x i32) (param $mean i32) (param $rows i32) (param $C i32) (param $mode i32) (param $parts i32)
    (local $cB i32) (local $r i32) (local $end i32) (local $c i32) (local $p i32) (local $q i32) (local $v v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (block $bdone (loop $bl
      (br_if $bdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $end (i32.add (local.get $r) (i32.const 256)))
      (if (i32.gt_u (local.get $end) (local.get $rows)) (then (local.set $end (local.get $rows))))
      (memory.fill (local.get $parts) (i32.const 0) (local.get $cB))
      (block $rdone (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $p (i32.mul (local.get $r) (local.get $cB)))
        (local.set $c (i32.const 0))
        (block $cdone (loop $cl
          (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
          (local.set $v (v128.load (i32.add (local.get $x) (i32.add (local.get $p) (local.get $c)))))
          (if (local.get $mode) (then
            (local.set $v (f32x4.sub (local.get $v) (v128.load (i32.add (local.get $mean) (local.get $c)))))
            (local.set $v (f32x4.mul (local.get $v) (local.get $v)))))
          (local.set $q (i32.add (local.get $parts) (local.get $c)))
          (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q)) (local.get $v)))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br $cl)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl)))
      (local.set $parts (i32.add (local.get $parts) (local.get $cB)))
      (br $bl))))

  ;; sum[c] = the partials of `nb` blocks added from 0 in block order, then divided by n unless n
  ;; is 0: a channel sum in blocks of 256 rows, which rounds about as much as one of 256 + rows / 256
  ;; values (a plain running sum: rows); up to 256 rows exactly tf.js' running sum from 0.
  (func (export "sum_partials") (param $parts i32) (param $nb i32) (param $C i32) (param $sum i32) (param $n i32)
    (local $cB i32) (local $b i32) (local $c i32) (local $q i32) (local $d v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (memory.fill (local.get $sum) (i32.const 0) (local.get $cB))
    (block $bdone (loop $bl
      (br_if $bdone (i32.ge_u (local.get $b) (local.get $nb)))
      (local.set $c (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
        (local.set $q (i32.add (local.get $sum) (local.get $c)))
        (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q)) (v128.load (i32.add (local.get $parts) (local.get $c)))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $cl)))
      (local.set $parts (i32.add (local.get $parts) (local.get $cB)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bl)))
    (if (local.get $n) (then
      (local.set $d (f32x4.splat (f32.convert_i32_u (local.get $n))))
      (local.set $c (i32.const 0))
      (block $ddone (loop $dl
        (br_if $ddone (i32.ge_u (local.get $c) (local.get $cB)))
        (v128.store (i32.add (local.get $sum) (local.get $c)) (f32x4.div (v128.load (i32.add (local.get $sum) (local.get $c))) (local.get $d)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $dl))))))

  ;; y = (x - mean) scale + shift per channel (scale = gamma / sqrt(var + eps), shift = beta).
  ;; With dy (backward: dx = dy scale + (x - mean) k2 + k1) the same pass reads dy as `x2`:
  ;; mode 0 is the forward pass, mode 1 the backward one.
  (func (export "bn_apply")
    (param $x i32) (param $x2 i32) (param $out i32) (param $rows i32) (param $C i32) (param $mode i32)
    (param $mean i32) (param $scale i32) (param $k1 i32) (param $k2 i32)
    (local $cB i32) (local $p i32) (local $end i32) (local $c i32) (local $xm v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (local.set $end (i32.mul (local.get $rows) (local.get $cB)))
    (block $rdone (loop $rl
      (br_if $rdone (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $c (i32.const 0))
      (block $cdone (loop $cl
        (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
        (local.set $xm (f32x4.sub (v128.load (i32.add (local.get $x) (i32.add (local.get $p) (local.get $c)))) (v128.load (i32.add (local.get $mean) (local.get $c)))))
        (if (local.get $mode)
          (then
            (v128.store (i32.add (local.get $out) (i32.add (local.get $p) (local.get $c)))
              (f32x4.relaxed_madd
                (v128.load (i32.add (local.get $x2) (i32.add (local.get $p) (local.get $c))))
                (v128.load (i32.add (local.get $scale) (local.get $c)))
                (f32x4.relaxed_madd (local.get $xm) (v128.load (i32.add (local.get $k2) (local.get $c))) (v128.load (i32.add (local.get $k1) (local.get $c)))))))
          (else
            (v128.store (i32.add (local.get $out) (i32.add (local.get $p) (local.get $c)))
              (f32x4.relaxed_madd (local.get $xm) (v128.load (i32.add (local.get $scale) (local.get $c))) (v128.load (i32.add (local.get $k1) (local.get $c)))))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $cl)))
      (local.set $p (i32.add (local.get $p) (local.get $cB)))
      (br $rl))))

;; The partials of the two sums batch normalization's gradient needs, in one pass over dy and
  ;; x: per block b of 256 rows as channel_partials, partsDy[b][c] = sum dy and
  ;; partsDyXm[b][c] = sum dy (x - mean).
  (func (export "grad_partials")
    (param $dy i32) (param $x i32) (param $mean i32) (param $rows i32) (param $C i32)
    (param $partsDy i32) (param $partsDyXm i32)
    (local $cB i32) (local $r i32) (local $end i32) (local $c i32) (local $p i32) (local $q i32) (local $d v128)
    (local.set $cB (i32.shl (local.get $C) (i32.const 2)))
    (block $bdone (loop $bl
      (br_if $bdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $end (i32.add (local.get $r) (i32.const 256)))
      (if (i32.gt_u (local.get $end) (local.get $rows)) (then (local.set $end (local.get $rows))))
      (memory.fill (local.get $partsDy) (i32.const 0) (local.get $cB))
      (memory.fill (local.get $partsDyXm) (i32.const 0) (local.get $cB))
      (block $rdone (loop $rl
        (br_if $rdone (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $p (i32.mul (local.get $r) (local.get $cB)))
        (local.set $c (i32.const 0))
        (block $cdone (loop $cl
          (br_if $cdone (i32.ge_u (local.get $c) (local.get $cB)))
          (local.set $d (v128.load (i32.add (local.get $dy) (i32.add (local.get $p) (local.get $c)))))
          (local.set $q (i32.add (local.get $partsDy) (local.get $c)))
          (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q)) (local.get $d)))
          (local.set $q (i32.add (local.get $partsDyXm) (local.get $c)))
          (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q))
            (f32x4.mul (local.get $d)
              (f32x4.sub (v128.load (i32.add (local.get $x) (i32.add (local.get $p) (local.get $c)))) (v128.load (i32.add (local.get $mean) (local.get $c)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 16)))
          (br $cl)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl)))
      (local.set $partsDy (i32.add (local.get $partsDy) (local.get $cB)))
      (local.set $partsDyXm (i32.add (local.get $partsDyXm) (local.get $cB)))
      (br $bl))))

  ;; dx = dy where y > 0, else 0, over n floats (n a multiple of 4): relu's gradient from its output.
  (func (export "relu_grad") (param $dy i32) (param $y i32) (param $dx i32) (param $n i32)
    (local $p i32) (local $end i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (i32.add (local.get $dx) (local.get $p))
        (v128.and
          (v128.load (i32.add (local.get $dy) (local.get $p)))
          (f32x4.gt (v128.load (i32.add (local.get $y) (local.get $p))) (v128.const i32x4 0 0 0 0))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l))))
)
