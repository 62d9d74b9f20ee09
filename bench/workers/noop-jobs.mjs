// A job worker that does nothing: the queue's own overhead, end to end.
import { work } from 'shepherd/worker'
work(() => undefined)
