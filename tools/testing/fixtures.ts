// Transitional (issue 14): the test helpers are the private workspace package @autoround/testing now
// (packages/testing). This re-export serves only the core-tensor tests another change is moving out of that
// package (autograd-qdq, autograd-alg-ext, autograd-norm-bias); delete it once they import @autoround/testing.
export * from '../../packages/testing/src/fixtures.js';
