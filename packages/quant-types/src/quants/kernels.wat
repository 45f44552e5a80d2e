;; make_qkx2_quants and make_qx_quants (rmse_type 1) in WebAssembly: the same binary32 operations, in the same order, as
;; search.ts's makeQkx2Quants (which stays the reference; the tests check they agree byte for byte).
;; WebAssembly computes f32 natively (IEEE binary32, round to nearest even, no fused multiply-add),
;; so no emulation is needed. f32.nearest rounds half to even, as nearest_int does.
;;
;; Memory layout (byte offsets):
;;   0    X[32]    f32   input values
;;   128  W[32]    f32   weights
;;   256  L[32]    u8    output levels
;;   288  LAUX[32] u8    candidate levels
;;   320  XM[32]   f32   x − min for the current min
;;   448  LV[64]   f32   value of each level for the current candidate
;;   704  MIN      f32   output: the negated min (≥ 0)
;; qx uses X, W (the weights, x² when the caller has none) and L (levels + nmax).
;; Rebuild kernels.wasm.ts with: node packages/export-gguf/scripts/build-kernels.mjs
(module
  (memory (export "mem") 1)

  ;; XM[i] = x[i] − min
  (func $xm (param $n i32) (param $min f32)
    (local $i i32)
    (local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (f32.store offset=320 (i32.shl (local.get $i) (i32.const 2))
        (f32.sub (f32.load (i32.shl (local.get $i) (i32.const 2))) (local.get $min)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))

  (func (export "qkx2")
    (param $n i32) (param $nmax i32) (param $rmin f32) (param $rdelta f32) (param $nstep i32) (param $mad i32)
    (result f32)
    (local $i i32) (local $is i32) (local $l i32) (local $p i32)
    (local $min f32) (local $max f32) (local $sumw f32) (local $sumx f32) (local $xi f32) (local $w f32)
    (local $iscale f32) (local $scale f32) (local $best f32) (local $diff f32) (local $nmaxf f32)
    (local $suml f32) (local $suml2 f32) (local $sumxl f32) (local $wl f32) (local $d f32)
    (local $ts f32) (local $tm f32) (local $cur f32)

    ;; min, max, Σw, Σw·x
    (local.set $min (f32.load (i32.const 0)))
    (local.set $max (local.get $min))
    (local.set $sumw (f32.load (i32.const 128)))
    (local.set $sumx (f32.mul (local.get $sumw) (local.get $min)))
    (local.set $i (i32.const 1))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $p (i32.shl (local.get $i) (i32.const 2)))
      (local.set $xi (f32.load (local.get $p)))
      (if (f32.lt (local.get $xi) (local.get $min)) (then (local.set $min (local.get $xi))))
      (if (f32.gt (local.get $xi) (local.get $max)) (then (local.set $max (local.get $xi))))
      (local.set $w (f32.load offset=128 (local.get $p)))
      (local.set $sumw (f32.add (local.get $sumw) (local.get $w)))
      (local.set $sumx (f32.add (local.get $sumx) (f32.mul (local.get $w) (local.get $xi))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (if (f32.gt (local.get $min) (f32.const 0)) (then (local.set $min (f32.const 0))))
    (if (f32.eq (local.get $max) (local.get $min)) (then
      (memory.fill (i32.const 256) (i32.const 0) (local.get $n))
      (f32.store (i32.const 704) (f32.neg (local.get $min)))
      (return (f32.const 0))))

    (local.set $nmaxf (f32.convert_i32_s (local.get $nmax)))
    (local.set $iscale (f32.div (local.get $nmaxf) (f32.sub (local.get $max) (local.get $min))))
    (local.set $scale (f32.div (f32.const 1) (local.get $iscale)))
    (local.set $best (f32.const 0))
    (call $xm (local.get $n) (local.get $min))
    (local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $p (i32.shl (local.get $i) (i32.const 2)))
      ;; l = clamp(nearest_int(iscale·(x − min)), 0, nmax), written out (V8 does not inline wasm calls)
      (local.set $l (i32.trunc_sat_f32_s (f32.nearest (f32.mul (local.get $iscale) (f32.load offset=320 (local.get $p))))))
      (local.set $l (select (local.get $nmax) (local.get $l) (i32.gt_s (local.get $l) (local.get $nmax))))
      (local.set $l (select (i32.const 0) (local.get $l) (i32.lt_s (local.get $l) (i32.const 0))))
      (i32.store8 offset=256 (local.get $i) (local.get $l))
      (local.set $diff (f32.sub
        (f32.add (f32.mul (local.get $scale) (f32.convert_i32_s (local.get $l))) (local.get $min))
        (f32.load (local.get $p))))
      (local.set $diff (select (f32.abs (local.get $diff)) (f32.mul (local.get $diff) (local.get $diff)) (local.get $mad)))
      (local.set $best (f32.add (local.get $best) (f32.mul (f32.load offset=128 (local.get $p)) (local.get $diff))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (if (i32.lt_s (local.get $nstep) (i32.const 1)) (then
      (f32.store (i32.const 704) (f32.neg (local.get $min)))
      (return (local.get $scale))))

    (local.set $is (i32.const 0))
    (block $cands (loop $cand
      (br_if $cands (i32.gt_s (local.get $is) (local.get $nstep)))
      (local.set $iscale (f32.div
        (f32.add (f32.add (local.get $rmin) (f32.mul (local.get $rdelta) (f32.convert_i32_s (local.get $is)))) (local.get $nmaxf))
        (f32.sub (local.get $max) (local.get $min))))
      (local.set $suml (f32.const 0))
      (local.set $suml2 (f32.const 0))
      (local.set $sumxl (f32.const 0))
      (local.set $i (i32.const 0))
      (block $done (loop $next
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $p (i32.shl (local.get $i) (i32.const 2)))
        (local.set $l (i32.trunc_sat_f32_s (f32.nearest (f32.mul (local.get $iscale) (f32.load offset=320 (local.get $p))))))
        (local.set $l (select (local.get $nmax) (local.get $l) (i32.gt_s (local.get $l) (local.get $nmax))))
        (local.set $l (select (i32.const 0) (local.get $l) (i32.lt_s (local.get $l) (i32.const 0))))
        (i32.store8 offset=288 (local.get $i) (local.get $l))
        (local.set $wl (f32.mul (f32.load offset=128 (local.get $p)) (f32.convert_i32_s (local.get $l))))
        (local.set $suml (f32.add (local.get $suml) (local.get $wl)))
        (local.set $suml2 (f32.add (local.get $suml2) (f32.mul (local.get $wl) (f32.convert_i32_s (local.get $l)))))
        (local.set $sumxl (f32.add (local.get $sumxl) (f32.mul (local.get $wl) (f32.load (local.get $p)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (local.set $d (f32.sub (f32.mul (local.get $sumw) (local.get $suml2)) (f32.mul (local.get $suml) (local.get $suml))))
      (if (f32.gt (local.get $d) (f32.const 0)) (then
        (local.set $ts (f32.div (f32.sub (f32.mul (local.get $sumw) (local.get $sumxl)) (f32.mul (local.get $sumx) (local.get $suml))) (local.get $d)))
        (local.set $tm (f32.div (f32.sub (f32.mul (local.get $suml2) (local.get $sumx)) (f32.mul (local.get $suml) (local.get $sumxl))) (local.get $d)))
        (if (f32.gt (local.get $tm) (f32.const 0)) (then
          (local.set $tm (f32.const 0))
          (local.set $ts (f32.div (local.get $sumxl) (local.get $suml2)))))
        ;; LV[l] = ts·l + tm
        (local.set $l (i32.const 0))
        (block $done (loop $next
          (br_if $done (i32.gt_s (local.get $l) (local.get $nmax)))
          (f32.store offset=448 (i32.shl (local.get $l) (i32.const 2))
            (f32.add (f32.mul (local.get $ts) (f32.convert_i32_s (local.get $l))) (local.get $tm)))
          (local.set $l (i32.add (local.get $l) (i32.const 1)))
          (br $next)))
        (local.set $cur (f32.const 0))
        (local.set $i (i32.const 0))
        (block $done (loop $next
          (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
          (local.set $p (i32.shl (local.get $i) (i32.const 2)))
          (local.set $diff (f32.sub
            (f32.load offset=448 (i32.shl (i32.load8_u offset=288 (local.get $i)) (i32.const 2)))
            (f32.load (local.get $p))))
          (local.set $diff (select (f32.abs (local.get $diff)) (f32.mul (local.get $diff) (local.get $diff)) (local.get $mad)))
          (local.set $cur (f32.add (local.get $cur) (f32.mul (f32.load offset=128 (local.get $p)) (local.get $diff))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
        (if (f32.lt (local.get $cur) (local.get $best)) (then
          (memory.copy (i32.const 256) (i32.const 288) (local.get $n))
          (local.set $best (local.get $cur))
          (local.set $scale (local.get $ts))
          (if (f32.ne (local.get $min) (local.get $tm)) (then
            (local.set $min (local.get $tm))
            (call $xm (local.get $n) (local.get $min))))))))
      (local.set $is (i32.add (local.get $is) (i32.const 1)))
      (br $cand)))
    (f32.store (i32.const 704) (f32.neg (local.get $min)))
    (local.get $scale))
  ;; Σ w·x·l and Σ w·l² for iscale, levels clamped to [−nmax, nmax−1]; writes L (+nmax) if $store
  (global $sumlx (mut f32) (f32.const 0))
  (global $suml2 (mut f32) (f32.const 0))
  (func $qxsums (param $n i32) (param $nmax i32) (param $iscale f32) (param $store i32)
    (local $i i32) (local $p i32) (local $l i32) (local $lf f32) (local $w f32) (local $sumlx f32) (local $suml2 f32)
    (local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $p (i32.shl (local.get $i) (i32.const 2)))
      (local.set $l (i32.trunc_sat_f32_s (f32.nearest (f32.mul (local.get $iscale) (f32.load (local.get $p))))))
      (local.set $l (select (i32.sub (i32.const 0) (local.get $nmax)) (local.get $l)
        (i32.lt_s (local.get $l) (i32.sub (i32.const 0) (local.get $nmax)))))
      (local.set $l (select (i32.sub (local.get $nmax) (i32.const 1)) (local.get $l)
        (i32.gt_s (local.get $l) (i32.sub (local.get $nmax) (i32.const 1)))))
      (if (local.get $store) (then (i32.store8 offset=256 (local.get $i) (i32.add (local.get $l) (local.get $nmax)))))
      (local.set $lf (f32.convert_i32_s (local.get $l)))
      (local.set $w (f32.load offset=128 (local.get $p)))
      (local.set $sumlx (f32.add (local.get $sumlx) (f32.mul (f32.mul (local.get $w) (f32.load (local.get $p))) (local.get $lf))))
      (local.set $suml2 (f32.add (local.get $suml2) (f32.mul (f32.mul (local.get $w) (local.get $lf)) (local.get $lf))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (global.set $sumlx (local.get $sumlx))
    (global.set $suml2 (local.get $suml2)))

  (func (export "qx") (param $n i32) (param $nmax i32) (result f32)
    (local $i i32) (local $is i32) (local $max f32) (local $amax f32) (local $ax f32) (local $xi f32)
    (local $iscale f32) (local $scale f32) (local $best f32) (local $nmaxf f32) (local $sumlx f32) (local $suml2 f32)
    (local.set $i (i32.const 0))
    (block $done (loop $next
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $xi (f32.load (i32.shl (local.get $i) (i32.const 2))))
      (local.set $ax (f32.abs (local.get $xi)))
      (if (f32.gt (local.get $ax) (local.get $amax)) (then
        (local.set $amax (local.get $ax))
        (local.set $max (local.get $xi))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (if (f32.lt (local.get $amax) (f32.const 1e-15)) (then
      (memory.fill (i32.const 256) (i32.const 0) (local.get $n))
      (return (f32.const 0))))
    (local.set $nmaxf (f32.convert_i32_s (local.get $nmax)))
    (local.set $iscale (f32.div (f32.neg (local.get $nmaxf)) (local.get $max)))
    (call $qxsums (local.get $n) (local.get $nmax) (local.get $iscale) (i32.const 1))
    (local.set $sumlx (global.get $sumlx))
    (local.set $suml2 (global.get $suml2))
    (local.set $scale (select (f32.div (local.get $sumlx) (local.get $suml2)) (f32.const 0) (f32.ne (local.get $suml2) (f32.const 0))))
    (local.set $best (f32.mul (local.get $scale) (local.get $sumlx)))
    (local.set $is (i32.const -9))
    (block $cands (loop $cand
      (br_if $cands (i32.gt_s (local.get $is) (i32.const 9)))
      (if (local.get $is) (then
        (local.set $iscale (f32.div
          (f32.neg (f32.add (local.get $nmaxf) (f32.mul (f32.const 0.1) (f32.convert_i32_s (local.get $is)))))
          (local.get $max)))
        (call $qxsums (local.get $n) (local.get $nmax) (local.get $iscale) (i32.const 0))
        (local.set $sumlx (global.get $sumlx))
        (local.set $suml2 (global.get $suml2))
        (if (i32.and
              (f32.gt (local.get $suml2) (f32.const 0))
              (f32.gt (f32.mul (local.get $sumlx) (local.get $sumlx)) (f32.mul (local.get $best) (local.get $suml2))))
          (then
            (call $qxsums (local.get $n) (local.get $nmax) (local.get $iscale) (i32.const 1))
            (local.set $scale (f32.div (local.get $sumlx) (local.get $suml2)))
            (local.set $best (f32.mul (local.get $scale) (local.get $sumlx)))))))
      (local.set $is (i32.add (local.get $is) (i32.const 1)))
      (br $cand)))
    (local.get $scale))
)
