"""client-go's tools/cache, workqueue and leader election for asyncio (planned). Not built yet."""
