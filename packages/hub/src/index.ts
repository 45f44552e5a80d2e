export { hubEnv, type HubEnv } from './env.js';
export { hubConfig, isRepoId, type HubOptions, type HubConfig, type RepoType } from './options.js';
export {
  repoFolderName,
  repoCacheDir,
  isCommitHash,
  readRef,
  snapshotDir,
  blobPath,
  listSnapshot,
  checkBlob,
  digestOf,
  hashFile,
} from './cache.js';
export { globToRegExp, filterPaths } from './glob.js';
export { HubNetworkError, resolveUrl, apiRevisionUrl } from './http.js';
export { hfHubDownload, cachedFile, fileMetadata, normalizeEtag, type FileRequest, type FileMetadata } from './download.js';
export { repoInfo, snapshotDownload, resolveModel, MODEL_FILES, type RepoRequest, type RepoInfo, type SnapshotRequest } from './snapshot.js';
export { datasetSplitFiles, parquetListing, matchRepoDataFiles, matchParquetExport, type SplitFilesRequest, type SplitFiles } from './datasets.js';
