// Original file: proto/etcd-v3.proto


export interface StatusRequest {
}

export interface StatusRequest__Output {
}
