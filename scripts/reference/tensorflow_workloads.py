"""W1, W2 and W4 of docs/workloads.md in TensorFlow/Keras, to compare with `reptile bench`
and scripts/reference/pytorch_workloads.py on the same machine at the same moment (only side-by-side
ratios mean something here). Each step is one `tf.function` (graph mode, as Keras trains); `--xla`
compiles it with XLA (`jit_compile=True`). Prints the same JSON lines.

    python3 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tfenv/bin/python scripts/reference/tensorflow_workloads.py --threads 2 W1 W2 W4 [--xla]
"""
import argparse, json, os, sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
from timing import median_step


def compiled(function, xla):
    return tf.function(function, jit_compile=xla)


def w1(xla):
    """G: [z, one-hot] -> Dense(6272) -> BN -> ReLU -> [7, 7, 128] -> ConvTranspose(64, 4, 2) -> BN -> ReLU
    -> ConvTranspose(1, 4, 2) -> tanh; D: Conv(64, 4, 2) -> LeakyReLU 0.2 -> Conv(128, 4, 2) -> BN ->
    LeakyReLU -> flatten 6272 -> Dense(1) and Dense(10). Channels last (TensorFlow's CPU layout);
    'same' padding gives the same 14 x 14 and 7 x 7 grids as PyTorch's padding 1."""
    z_in, class_in = keras.Input((100,)), keras.Input((10,))
    x = layers.Dense(128 * 7 * 7)(layers.Concatenate()([z_in, class_in]))
    x = layers.Reshape((7, 7, 128))(layers.ReLU()(layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)))
    x = layers.ReLU()(layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(layers.Conv2DTranspose(64, 4, 2, "same")(x)))
    generator = keras.Model([z_in, class_in], layers.Activation("tanh")(layers.Conv2DTranspose(1, 4, 2, "same")(x)))
    image_in = keras.Input((28, 28, 1))
    x = layers.LeakyReLU(0.2)(layers.Conv2D(64, 4, 2, "same")(image_in))
    x = layers.Flatten()(layers.LeakyReLU(0.2)(layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(layers.Conv2D(128, 4, 2, "same")(x))))
    discriminator = keras.Model(image_in, [layers.Dense(1)(x), layers.Dense(10)(x)])
    g_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
    d_optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5, beta_2=0.999)
    real = tf.random.uniform((64, 28, 28, 1), -1, 1)
    labels = tf.range(64) % 10
    onehot = tf.one_hot(labels, 10)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    ones, zeros = tf.ones((64, 1)), tf.zeros((64, 1))

    def step():
        z = tf.random.normal((64, 100))
        # G's forward is shared by both updates, as in the PyTorch script (fake.detach() for D).
        with tf.GradientTape() as g_tape:
            fake = generator([z, onehot], training=True)
            with tf.GradientTape() as d_tape:
                real_logit, real_class = discriminator(real, training=True)
                fake_logit, fake_class = discriminator(tf.stop_gradient(fake), training=True)
                loss_d = bce(ones, real_logit) + bce(zeros, fake_logit) + ce(labels, real_class) + ce(labels, fake_class)
            d_gradients = d_tape.gradient(loss_d, discriminator.trainable_variables)
            d_optimizer.apply_gradients(zip(d_gradients, discriminator.trainable_variables))
            fake_logit, fake_class = discriminator(fake, training=True)
            loss_g = bce(ones, fake_logit) + ce(labels, fake_class)
        g_gradients = g_tape.gradient(loss_g, generator.trainable_variables)
        g_optimizer.apply_gradients(zip(g_gradients, generator.trainable_variables))
        return loss_g

    step = compiled(step, xla)
    return "images_per_s", 64 / median_step(lambda: step().numpy())


def w2(xla):
    """Embedding(5000, 128), the class embedding (10, 256) as the GRU's initial state, GRU(256)
    (reset gate after the matrix product, as PyTorch's), Dense(5000), cross-entropy over 64 x 32
    tokens, Adam(1e-3)."""
    tokens_in, class_in = keras.Input((32,), dtype="int32"), keras.Input((), dtype="int32")
    state = layers.Embedding(10, 256)(class_in)
    states = layers.GRU(256, return_sequences=True, reset_after=True)(layers.Embedding(5000, 128)(tokens_in), initial_state=state)
    model = keras.Model([tokens_in, class_in], layers.Dense(5000)(states))
    optimizer = keras.optimizers.Adam(1e-3)
    tokens = tf.random.uniform((64, 33), 0, 5000, dtype=tf.int32)
    labels = tf.range(64) % 10
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step():
        with tf.GradientTape() as tape:
            loss = ce(tokens[:, 1:], model([tokens[:, :-1], labels], training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    step = compiled(step, xla)
    return "tokens_per_s", 64 * 32 / median_step(lambda: step().numpy())


def w4(xla):
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu"), layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10)])
    optimizer = keras.optimizers.Adam(1e-3)
    images, labels = tf.random.normal((128, 28, 28, 1)), tf.range(128) % 10
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step():
        with tf.GradientTape() as tape:
            loss = ce(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    step = compiled(step, xla)
    return "images_per_s", 128 / median_step(lambda: step().numpy())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="*", default=["W1", "W2", "W4"])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--xla", action="store_true", help="compile each step with XLA (jit_compile=True)")
    arguments = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(arguments.threads)
    tf.config.threading.set_inter_op_parallelism_threads(arguments.threads)
    tf.random.set_seed(0)
    workloads = {"W1": w1, "W2": w2, "W4": w4}
    for name in arguments.workloads:
        if name not in workloads:
            sys.exit(f"unknown workload {name}; this script has {', '.join(workloads)}")
        metric, value = workloads[name](arguments.xla)
        print(json.dumps({"workload": name, "metric": metric, "value": round(value, 1), "steps": 50,
                          "threads": arguments.threads, "framework": f"tensorflow {tf.__version__}" + (" xla" if arguments.xla else "")}),
              flush=True)


if __name__ == "__main__":
    main()
