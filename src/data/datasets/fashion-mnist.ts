/**
 * Fashion-MNIST (Zalando Research, MIT): 70,000 28×28 greyscale images of clothing in ten
 * classes, as Debian's `dataset-fashion-mnist` installs it. The benchmarks train on it and the
 * bundled sample in samples/ is cut from it.
 */
export const FASHION_MNIST_DIR = process.env.LOUPE_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';

/** Class names in label order 0–9, made safe as folder names ("T-shirt/top" → "T-shirt_top"). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt_top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle_boot',
] as const;
