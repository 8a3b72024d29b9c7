// Original file: proto/etcd-v3.proto


export interface WatchProgressRequest {
}

export interface WatchProgressRequest__Output {
}
